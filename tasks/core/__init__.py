"""What the product knows, free of I/O: models, errors, ports, configuration, planning, file formats and validation."""
