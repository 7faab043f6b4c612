"""Structure to tensor graphs, datasets and collate functions."""
