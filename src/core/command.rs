//! Pure core: the command parser (comment body → typed commands).
