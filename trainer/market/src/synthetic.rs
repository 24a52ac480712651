//! Seeded synthetic markets: one with a planted, learnable edge, one pure random walk.
