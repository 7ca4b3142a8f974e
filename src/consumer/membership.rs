//! Who is who on GitHub, found out off the consumer's path: the plugin's own login
//! (resolved before the consumer starts, then read as a plain value) and whether a
//! command's author is in an approver team (remembered for [`APPROVER_CACHE_TTL`]; a login
//! not remembered is asked about by a background task while its command waits in the
//! inbox, and the command is queued again once the answer is known). The consumer itself
//! never awaits GitHub, so a slow GitHub delays a reply, never a result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use crate::bus::event::Event;
use crate::config::Config;
use crate::core::gate::Approval;
use crate::github::Client;
use crate::model::{Login, PrNumber, RepoName};
use crate::store::InboxKey;

use crate::bus::{Input, WeakQueueSender};

/// How long a team membership answer is trusted.
pub const APPROVER_CACHE_TTL: Duration = Duration::from_secs(300);

/// At most this many logins are remembered; the cache is cleared when full.
const APPROVER_CACHE_MAX: usize = 4096;

/// Commands waiting for their author's membership, at most (the inbox holds no more).
pub const AWAITING_MAX: usize = crate::bus::QUEUE_CAPACITY;

/// How long start-up waits for GitHub to name the plugin's login before it goes on
/// without it (and keeps asking in the background).
pub const OWN_LOGIN_STARTUP_WAIT: Duration = Duration::from_secs(10);

/// Longest pause between background attempts to learn the plugin's login.
const OWN_LOGIN_RETRY_MAX: Duration = Duration::from_secs(300);

/// Team membership answers, trusted for [`APPROVER_CACHE_TTL`].
#[derive(Default)]
pub struct ApproverCache {
    entries: Mutex<HashMap<String, (bool, Instant)>>,
}

impl ApproverCache {
    /// The remembered answer for `login`, if still fresh.
    pub fn get(&self, login: &Login) -> Option<bool> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = login.as_str().to_ascii_lowercase();
        entries
            .get(&key)
            .filter(|(_, at)| at.elapsed() < APPROVER_CACHE_TTL)
            .map(|(answer, _)| *answer)
    }

    /// Remembers the answer for `login`.
    pub fn put(&self, login: &Login, answer: bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= APPROVER_CACHE_MAX {
            entries.clear();
        }
        entries.insert(
            login.as_str().to_ascii_lowercase(),
            (answer, Instant::now()),
        );
    }
}

/// The base branches of pull requests, as learnt from `pull_request` events and asked of
/// GitHub for a command on a PR: a command on a PR touches only the incidents of its
/// repo and base branch. Bounded: cleared when full.
#[derive(Default)]
pub struct PrBases {
    entries: Mutex<HashMap<(RepoName, PrNumber), String>>,
}

impl PrBases {
    /// The base branch of `repo#pr`, if known.
    pub fn get(&self, repo: &RepoName, pr: PrNumber) -> Option<String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&(repo.clone(), pr)).cloned()
    }

    /// Remembers the base branch of `repo#pr`.
    pub fn put(&self, repo: &RepoName, pr: PrNumber, base: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= APPROVER_CACHE_MAX {
            entries.clear();
        }
        entries.insert((repo.clone(), pr), base.to_string());
    }
}

/// The approvers: configured users and teams, GitHub to ask about the teams, and the
/// answers it gave; also the base branches of PRs commands are said on.
pub struct Approvers {
    users: Vec<String>,
    teams: Vec<String>,
    /// `None` when there is no token (dry-run without a token file): nobody is asked, and
    /// only the configured users are approvers.
    github: Option<Client>,
    cache: ApproverCache,
    /// PR base branches (asked of GitHub off the consumer's path, like memberships).
    pub bases: PrBases,
}

impl Approvers {
    /// The approvers of `config`, asking `github` about its teams.
    pub fn new(config: &Config, github: Option<Client>) -> Self {
        Self {
            users: config.approvers.users.clone(),
            teams: config.approvers.teams.clone(),
            github,
            cache: ApproverCache::default(),
            bases: PrBases::default(),
        }
    }

    /// Whether GitHub is asked at all (a token or app is configured): without it no
    /// membership and no base branch can be learnt, so no command waits for one.
    pub fn asks_github(&self) -> bool {
        self.github.is_some()
    }

    /// Learns the base branch of the PR a waiting command is on, when not known yet (a
    /// failure is logged: the command then touches nothing and its reply says why).
    pub async fn learn_base(&self, event: &Event) {
        let Event::IssueComment(comment) = event else {
            return;
        };
        if !comment.is_pr || self.bases.get(&comment.repo, comment.number).is_some() {
            return;
        }
        let Some(github) = &self.github else {
            return;
        };
        match github.get_pull(&comment.repo, comment.number).await {
            Ok(Some(pr)) => self
                .bases
                .put(&comment.repo, comment.number, &pr.base.branch),
            Ok(None) => {
                tracing::warn!(repo = %comment.repo, pr = comment.number.0, "pull request not found")
            }
            Err(error) => {
                tracing::warn!(repo = %comment.repo, pr = comment.number.0, error = %error,
                    "cannot learn the pull request's base branch")
            }
        }
    }

    /// What is known about `login` without asking GitHub: a configured user is an
    /// approver; without GitHub nobody else is; otherwise the remembered answer, if any.
    pub fn known(&self, login: &Login) -> Option<Approval> {
        if self
            .users
            .iter()
            .any(|u| u.eq_ignore_ascii_case(login.as_str()))
        {
            return Some(Approval::Approver);
        }
        if self.github.is_none() {
            return Some(Approval::NotApprover);
        }
        self.cache.get(login).map(|answer| {
            if answer {
                Approval::Approver
            } else {
                Approval::NotApprover
            }
        })
    }

    /// Whether `login` is an approver, asking GitHub about each team when it is not known
    /// (the answer is remembered). `Unknown` when GitHub did not answer for a team and no
    /// other team said yes: the gate then refuses saying so, instead of calling a team
    /// member no approver; that is not remembered, so the next command asks again.
    pub async fn lookup(&self, login: &Login) -> Approval {
        if let Some(known) = self.known(login) {
            return known;
        }
        let Some(github) = &self.github else {
            return Approval::NotApprover;
        };
        let mut unknown = false;
        for team in &self.teams {
            let Some((org, slug)) = team.split_once('/') else {
                continue;
            };
            match github.is_team_member(org, slug, login.as_str()).await {
                Ok(true) => {
                    self.cache.put(login, true);
                    return Approval::Approver;
                }
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(error = %error, team, login = %login, "team membership unknown");
                    unknown = true;
                }
            }
        }
        if unknown {
            return Approval::Unknown;
        }
        self.cache.put(login, false);
        Approval::NotApprover
    }
}

/// A webhook whose command waits for its author's membership. Its inbox entry stays until
/// it is decided, so a stop meanwhile loses nothing: the next start replays it.
#[derive(Debug)]
pub struct Awaiting {
    pub delivery: String,
    pub event: Box<Event>,
    pub inbox: Option<InboxKey>,
    pub author: Login,
}

/// The consumer's side of the background task that asks GitHub about authors.
pub struct Resolver {
    tx: mpsc::Sender<Awaiting>,
}

impl Resolver {
    /// Hands `awaiting` to the background task without waiting; gives it back when
    /// [`AWAITING_MAX`] commands already wait (or the task is gone).
    pub fn try_send(&self, awaiting: Awaiting) -> Result<(), Box<Awaiting>> {
        self.tx.try_send(awaiting).map_err(|e| match e {
            mpsc::error::TrySendError::Full(a) | mpsc::error::TrySendError::Closed(a) => {
                Box::new(a)
            }
        })
    }
}

/// Starts the background task: it asks GitHub about each waiting command's author, in
/// arrival order, and queues the command again as [`Input::Authorized`]. It holds the
/// queue only weakly, so it never keeps the queue open at shutdown: a command still
/// waiting then stays in the inbox for the next start. It ends with the [`Resolver`].
pub fn spawn(approvers: Arc<Approvers>, queue: WeakQueueSender) -> Resolver {
    let (tx, mut rx) = mpsc::channel::<Awaiting>(AWAITING_MAX);
    tokio::spawn(async move {
        while let Some(awaiting) = rx.recv().await {
            let approval = approvers.lookup(&awaiting.author).await;
            approvers.learn_base(&awaiting.event).await;
            tracing::info!(delivery = awaiting.delivery, author = %awaiting.author,
                ?approval, "approver check answered; command queued again");
            let Some(queue) = queue.upgrade() else {
                tracing::info!(
                    delivery = awaiting.delivery,
                    "stopping: the command stays in the inbox for the next start"
                );
                continue;
            };
            let input = Input::Authorized {
                delivery: awaiting.delivery,
                event: awaiting.event,
                inbox: awaiting.inbox,
                approval,
            };
            if queue.send(input).await.is_err() {
                tracing::info!("stopping: the command stays in the inbox for the next start");
            }
        }
    });
    Resolver { tx }
}

/// The plugin's own GitHub login, once known: read without waiting. Until GitHub has
/// named it (or forever, without a token) it is unknown, and every comment is taken as a
/// person's: the plugin's own comments are then not recognised as its own.
#[derive(Clone, Default)]
pub struct OwnLogin(Arc<OnceLock<Login>>);

impl OwnLogin {
    /// A login known from the start.
    pub fn known(login: Login) -> Self {
        let cell = OnceLock::new();
        let _ = cell.set(login);
        Self(Arc::new(cell))
    }

    /// The login, if known yet.
    pub fn get(&self) -> Option<&Login> {
        self.0.get()
    }

    /// Asks GitHub (`github`, `None` without a token) for the plugin's login, waiting at
    /// most [`OWN_LOGIN_STARTUP_WAIT`] (the client retries within that); when GitHub has
    /// not answered by then, keeps asking in the background, backing off up to five
    /// minutes, until it answers or `stop` turns true.
    pub async fn resolve(github: Option<&Client>, stop: watch::Receiver<bool>) -> Self {
        let own = Self::default();
        let Some(github) = github else {
            tracing::info!("no GitHub token: the plugin's own login stays unknown");
            return own;
        };
        match tokio::time::timeout(OWN_LOGIN_STARTUP_WAIT, github.own_login()).await {
            Ok(Ok(login)) => {
                tracing::info!(login = %login, "the plugin's own login");
                let _ = own.0.set(login);
                return own;
            }
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "cannot learn the plugin's own login yet; asking again in the background");
            }
            Err(_) => {
                tracing::warn!(
                    "GitHub did not name the plugin's own login in time; asking again in the background"
                );
            }
        }
        let background = own.clone();
        let github = github.clone();
        tokio::spawn(async move { background.keep_asking(github, stop).await });
        own
    }

    async fn keep_asking(self, github: Client, mut stop: watch::Receiver<bool>) {
        let mut pause = Duration::from_secs(5);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match github.own_login().await {
                Ok(login) => {
                    tracing::info!(login = %login, "the plugin's own login, learnt late");
                    let _ = self.0.set(login);
                    return;
                }
                Err(error) => {
                    tracing::warn!(error = %error, "cannot learn the plugin's own login yet");
                    pause = (pause * 2).min(OWN_LOGIN_RETRY_MAX);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approver_cache_remembers_per_login_case_insensitively() {
        let cache = ApproverCache::default();
        assert_eq!(cache.get(&Login::new("Alice")), None);
        cache.put(&Login::new("Alice"), true);
        assert_eq!(cache.get(&Login::new("alice")), Some(true));
    }

    #[test]
    fn without_github_only_configured_users_are_approvers() {
        let mut config = Config::default();
        config.approvers.users = vec!["Alice".into()];
        config.approvers.teams = vec!["o/leads".into()];
        let approvers = Approvers::new(&config, None);
        assert_eq!(
            approvers.known(&Login::new("alice")),
            Some(Approval::Approver)
        );
        assert_eq!(
            approvers.known(&Login::new("bob")),
            Some(Approval::NotApprover)
        );
    }

    #[test]
    fn an_own_login_is_unknown_until_set() {
        assert!(OwnLogin::default().get().is_none());
        let own = OwnLogin::known(Login::new("gate-bot"));
        assert_eq!(own.clone().get().map(Login::as_str), Some("gate-bot"));
    }
}
