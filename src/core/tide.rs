//! Pure core: tide (filled in by its issue).
