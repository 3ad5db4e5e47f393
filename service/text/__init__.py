"""heed's text pipeline: splitting texts into sentences (segment) and telling their language (detect)."""
