"""Documents: storage, letter and email rendering, PDFs, the template library and standard lines."""
