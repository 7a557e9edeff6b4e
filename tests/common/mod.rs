//! Shared helpers of the integration tests.
#![allow(dead_code)]

pub mod binary;
pub mod pingpong;
