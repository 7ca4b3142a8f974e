//! Pure core: detector (filled in by its issue).
