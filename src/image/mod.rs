//! The backend image: what its source tag covers (the context as the builder receives it, the
//! Dockerfile and its `FROM` images, build args), registry reads (base digests, an image's
//! platform and labels), ECR lookup and login, build and push.

pub(crate) mod build;
pub(crate) mod copy;
pub(crate) mod creds;
pub(crate) mod dockerfile;
pub(crate) mod ecr;
pub(crate) mod ignore;
pub(crate) mod reference;
pub(crate) mod registry;
pub(crate) mod tag;
mod wire;
