"""Active liveness from 68-point landmarks: eye openness, blinks and winks over a sequence, head
pose and mouth, and the challenge actions of a liveness session. Pure numpy; no model here."""
