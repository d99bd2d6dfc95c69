"""Using a finished run: load its model and preprocessing, predict new images, explain them."""
