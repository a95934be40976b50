"""The run folder and what reads it: the manifest of written files and its checked
paths, the saved model and `load` (a `Predictor`), the report and compare pages,
experiment tracking (MLflow, TensorBoard) and the ONNX / TorchScript export."""
