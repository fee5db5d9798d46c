"""Measuring edits: image metrics and the emotion classifier (:mod:`.metrics`), a deep-feature
perceptual distance (:mod:`.perceptual`), contact sheets (:mod:`.sheet`) and the landmark
overlay of ``mien inspect`` (:mod:`.overlay`). Benchmarks and the CLI use these; the
editing pipeline never does."""
