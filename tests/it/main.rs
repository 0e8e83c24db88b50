//! Gatehouse's integration tests, as one crate: each module drives the real HTTP surface
//! (or the binary) of a server started by `support`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod account_link;
mod admin;
mod backchannel_outbox;
mod client_documents;
mod client_jwt;
mod config;
mod consent;
mod device;
mod discovery;
mod disk_full;
mod domain_steps;
mod dpop;
mod durability;
mod error_responses;
mod failover;
mod fapi2;
mod federation;
mod floors;
mod home_realm;
mod implicit_hybrid;
mod keys;
mod ldap;
mod limits;
mod login_flow;
mod logout;
mod logs;
mod map_command;
mod mapping_fixtures;
mod mapping_rules;
mod operability;
mod pages;
mod par;
mod person_api;
mod postgres_store;
mod properties;
mod quickstart;
mod registration;
mod replica_recipe;
mod replicas;
mod resource_indicators;
mod saml;
mod session_index;
mod shared_signals;
mod store_conformance;
mod store_outage;
mod token_exchange;
mod token_lifecycle;
mod upstream_logout;
mod upstream_oauth2;
mod upstream_oidc;
mod upstream_refresh;
