//! Pure core: gate (filled in by its issue).
