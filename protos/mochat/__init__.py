"""Generated protobuf packages, by proto package name."""
