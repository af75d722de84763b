//! Proxmox Manager Portal: a security-first web portal for Proxmox VE servers and clusters.
//! The binary (`main.rs`) is a thin CLI over this library, so tests start the same portal
//! in-process on a random port.

pub mod access;
pub mod admin;
pub mod alerts;
pub mod app;
pub mod audit;
pub mod backup;
pub mod config;
pub mod db;
pub mod demo;
pub mod guests;
pub mod health;
pub mod http;
pub mod identity;
pub mod ids;
pub mod inventory;
pub mod jobs;
pub mod logging;
pub mod schedules;
pub mod sealed;
pub mod secrets;
pub mod servers;
pub mod settings;
pub mod telemetry;
pub mod ui;
pub mod web;
