//! The backend image: source tag, ECR lookup and login, build and push.

pub(crate) mod build;
pub(crate) mod ecr;
pub(crate) mod ignore;
pub(crate) mod tag;
