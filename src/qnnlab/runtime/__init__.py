"""Runtime services: run directories, atomic files, checkpoints."""
