"""Reading radiographs and writing outputs safely."""
