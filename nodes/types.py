"""The pack's own socket types: what each loader gives and which inputs take it."""

from comfy_api.latest import io

GanpostModel = io.Custom("GANPOST_MODEL")
GanpostFaceModel = io.Custom("GANPOST_FACE_MODEL")
GanpostFaceDetector = io.Custom("GANPOST_FACE_DETECTOR")
GanpostFaceParser = io.Custom("GANPOST_FACE_PARSER")
GanpostTranslator = io.Custom("GANPOST_TRANSLATOR")
