"""Building blocks recipes share: losses, the VGG19 feature network, discriminators, image metrics."""
