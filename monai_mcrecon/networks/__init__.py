"""Networks: shared building blocks (:mod:`.blocks`) and one file per model (:mod:`.nets`)."""
