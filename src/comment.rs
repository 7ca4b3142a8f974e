//! Every text the plugin posts on GitHub: issue bodies, notices, replies.
