"""Building blocks several recipes share (no recipe imports another's): image folders (``images``),
super-resolution data and validation (``sr_data``, ``sr_validation``), preview strips, losses, the VGG19
feature network, discriminators, image metrics, the offline sample photos and exporting a model."""
