"""Bytes → faces: decode, detect, landmark, align, embed. Knows nothing of storage or HTTP."""
