"""API dialects of other face servers (CompreFace, DeepStack/CodeProject.AI): thin translations
of their requests and answers onto facegate's own services, one module per dialect."""
