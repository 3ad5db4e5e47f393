"""heed's serving side: the torch-free ONNX Runtime inference runtime (runtime/), the HTTP app (app/) and CLIs."""
