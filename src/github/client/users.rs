//! Who people are: the token's own login, and whether someone is on a team.

use super::error::GithubError;
use super::{Client, encode};
use crate::github::types::{TeamMembership, User};
use crate::model::Login;

impl Client {
    /// The plugin's own login, asked once and remembered: the token owner's (`GET /user`),
    /// or with a GitHub App its bot's, `<slug>[bot]` (`GET /app`; an installation token
    /// may not ask `GET /user`).
    pub async fn own_login(&self) -> Result<Login, GithubError> {
        self.inner
            .login
            .get_or_try_init(|| async {
                if self.is_app() {
                    return self.app_login().await;
                }
                let user: User = self.get_json("/user").await?;
                Ok(user.login())
            })
            .await
            .cloned()
    }

    /// Whether `login` is an active member of the team `org/slug` (a 404 or a pending
    /// invitation means not).
    pub async fn is_team_member(
        &self,
        org: &str,
        slug: &str,
        login: &str,
    ) -> Result<bool, GithubError> {
        let path = format!(
            "/orgs/{}/teams/{}/memberships/{}",
            encode(org),
            encode(slug),
            encode(login)
        );
        let membership: Option<TeamMembership> = self.get_json_or_none(&path).await?;
        Ok(membership.is_some_and(|m| m.state == "active"))
    }
}

/// The author GitHub would name on what a dry-run pretends to create.
pub(super) fn dry_run_user() -> User {
    User {
        login: "dry-run".into(),
        kind: None,
    }
}
