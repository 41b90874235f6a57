"""Running models: the task-neutral runner, tiling, precision, memory, and image conversion and files."""
