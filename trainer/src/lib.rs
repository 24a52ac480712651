//! The trainer core of skippy-train.
