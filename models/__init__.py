"""Text encoders (ONNX Runtime for serving, sentence-transformers for reference and training)."""
