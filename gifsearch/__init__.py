"""The gifsearch command line: the edge that builds Settings and calls the libraries."""
