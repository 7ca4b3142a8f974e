// Command peer is the yardstick of benches/load.sh: a minimal webhook receiver written the
// way Prow's Go plugins receive GitHub webhooks, with the standard library only.
//
// Per request, as Prow's ValidateWebhook and an external plugin's handler do it:
//
//   - checks in Prow's order: not POST 405; no X-GitHub-Event 400; no X-GitHub-Delivery
//     400; no signature 403; Content-Type not exactly application/json 400;
//   - reads the body (bounded to GitHub's 25 MB cap), unmarshals it far enough to find
//     repository.full_name (Prow picks the HMAC tokens by org/repo from the payload), and
//     checks X-Hub-Signature-256 (else the legacy sha1 X-Hub-Signature) against every
//     token of the most specific level of the secret file, with hmac.Equal (constant
//     time); a mismatch or a body that is not JSON is 403;
//   - json.Unmarshal of the body into the typed event struct (issue_comment,
//     pull_request; other events are answered without decoding, as plugins ignore them);
//   - 200 "Event received. Have a nice day."
//
// The HMAC secret file has Prow's semantics: either one bare token, or a map
// {"org/repo"|"org"|"*": [{value, created_at}]} where the most specific key present wins
// and any token of its list matches. Go's standard library has no YAML, so the map form
// is read when written as JSON (which is YAML); the bare-token form is what the bench
// uses. The file is trimmed, kept in memory, and re-read every second when it changed
// (Prow's secret agent reloads its files in the background). Parsing once per reload,
// not per request, keeps this peer's own cost low: a conservative yardstick.
//
// Usage: peer -listen 127.0.0.1:18890 -hmac-secret-file /path/to/hmac
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"hash"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// maxBody is GitHub's own cap on a webhook body.
const maxBody = 25 << 20

// secrets is one parsed secret file.
type secrets struct {
	// bare is the token when the file holds one bare token.
	bare []byte
	// byScope maps "org/repo", "org" or "*" to its tokens.
	byScope map[string][][]byte
}

type tokenEntry struct {
	Value     string `json:"value"`
	CreatedAt string `json:"created_at"`
}

func parseSecrets(raw []byte) (*secrets, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, errors.New("empty HMAC secret file")
	}
	if trimmed[0] == '{' {
		var m map[string][]tokenEntry
		if err := json.Unmarshal(trimmed, &m); err != nil {
			return nil, err
		}
		s := &secrets{byScope: map[string][][]byte{}}
		for scope, list := range m {
			for _, t := range list {
				if v := strings.TrimSpace(t.Value); v != "" {
					s.byScope[scope] = append(s.byScope[scope], []byte(v))
				}
			}
		}
		return s, nil
	}
	return &secrets{bare: trimmed}, nil
}

// tokens returns the tokens that may sign a payload of orgRepo.
func (s *secrets) tokens(orgRepo string) [][]byte {
	if s.bare != nil {
		return [][]byte{s.bare}
	}
	if t, ok := s.byScope[orgRepo]; ok {
		return t
	}
	if i := strings.IndexByte(orgRepo, '/'); i > 0 {
		if t, ok := s.byScope[orgRepo[:i]]; ok {
			return t
		}
	}
	return s.byScope["*"]
}

// secretFile keeps the current secrets, reloaded in the background.
type secretFile struct {
	path    string
	raw     []byte
	current atomic.Value // *secrets
}

func (f *secretFile) reload() error {
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	if f.raw != nil && bytes.Equal(raw, f.raw) {
		return nil
	}
	s, err := parseSecrets(raw)
	if err != nil {
		return err
	}
	f.raw = raw
	f.current.Store(s)
	return nil
}

func (f *secretFile) watch() {
	for range time.Tick(time.Second) {
		if err := f.reload(); err != nil {
			log.Printf("HMAC secret file unusable: %v", err)
		}
	}
}

// genericEvent is what is read before the signature check, to pick the tokens.
type genericEvent struct {
	Repo struct {
		FullName string `json:"full_name"`
	} `json:"repository"`
	Org struct {
		Login string `json:"login"`
	} `json:"organization"`
}

type user struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

type label struct {
	Name string `json:"name"`
}

type repo struct {
	FullName string `json:"full_name"`
	Name     string `json:"name"`
	Owner    user   `json:"owner"`
}

type issueCommentEvent struct {
	Action string `json:"action"`
	Issue  struct {
		Number      int       `json:"number"`
		Title       string    `json:"title"`
		State       string    `json:"state"`
		User        user      `json:"user"`
		Labels      []label   `json:"labels"`
		PullRequest *struct{} `json:"pull_request"`
		HTMLURL     string    `json:"html_url"`
	} `json:"issue"`
	Comment struct {
		ID                int64  `json:"id"`
		Body              string `json:"body"`
		User              user   `json:"user"`
		HTMLURL           string `json:"html_url"`
		AuthorAssociation string `json:"author_association"`
	} `json:"comment"`
	Repo   repo `json:"repository"`
	Sender user `json:"sender"`
}

type pullRequestEvent struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	Label       label  `json:"label"`
	PullRequest struct {
		Number int     `json:"number"`
		Title  string  `json:"title"`
		State  string  `json:"state"`
		User   user    `json:"user"`
		Labels []label `json:"labels"`
		Base   struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		} `json:"base"`
		Head struct {
			Ref string `json:"ref"`
			SHA string `json:"sha"`
		} `json:"head"`
		Merged         bool    `json:"merged"`
		MergedAt       *string `json:"merged_at"`
		MergeCommitSHA *string `json:"merge_commit_sha"`
	} `json:"pull_request"`
	Repo   repo `json:"repository"`
	Sender user `json:"sender"`
}

type server struct {
	secrets *secretFile
}

func (s *server) validate(payload []byte, sig string) bool {
	var mac func() hash.Hash
	var hexSig string
	switch {
	case strings.HasPrefix(sig, "sha256="):
		mac, hexSig = sha256.New, sig[len("sha256="):]
	case strings.HasPrefix(sig, "sha1="):
		mac, hexSig = sha1.New, sig[len("sha1="):]
	default:
		return false
	}
	want, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	var event genericEvent
	if err := json.Unmarshal(payload, &event); err != nil {
		return false
	}
	orgRepo := event.Repo.FullName
	if orgRepo == "" {
		orgRepo = event.Org.Login
	}
	current, _ := s.secrets.current.Load().(*secrets)
	if current == nil {
		return false
	}
	for _, token := range current.tokens(orgRepo) {
		h := hmac.New(mac, token)
		h.Write(payload)
		if hmac.Equal(want, h.Sum(nil)) {
			return true
		}
	}
	return false
}

func (s *server) hook(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "405 Method not allowed", http.StatusMethodNotAllowed)
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	if event == "" {
		http.Error(w, "400 Bad Request: Missing X-GitHub-Event Header", http.StatusBadRequest)
		return
	}
	if r.Header.Get("X-GitHub-Delivery") == "" {
		http.Error(w, "400 Bad Request: Missing X-GitHub-Delivery Header", http.StatusBadRequest)
		return
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		sig = r.Header.Get("X-Hub-Signature")
	}
	if sig == "" {
		http.Error(w, "403 Forbidden: Missing X-Hub-Signature", http.StatusForbidden)
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "400 Bad Request: Hook only accepts content-type: application/json", http.StatusBadRequest)
		return
	}
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		http.Error(w, "500 Internal Server Error: Failed to read request body", http.StatusInternalServerError)
		return
	}
	if !s.validate(payload, sig) {
		http.Error(w, "403 Forbidden: Invalid X-Hub-Signature", http.StatusForbidden)
		return
	}
	switch event {
	case "issue_comment":
		var ev issueCommentEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			http.Error(w, "400 Bad Request: cannot decode the event", http.StatusBadRequest)
			return
		}
	case "pull_request":
		var ev pullRequestEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			http.Error(w, "400 Bad Request: cannot decode the event", http.StatusBadRequest)
			return
		}
	}
	io.WriteString(w, "Event received. Have a nice day.")
}

func main() {
	listen := flag.String("listen", "127.0.0.1:18890", "address to listen on")
	secretPath := flag.String("hmac-secret-file", "/etc/webhook/hmac", "Prow's HMAC secret file")
	flag.Parse()

	file := &secretFile{path: *secretPath}
	if err := file.reload(); err != nil {
		log.Fatalf("HMAC secret file: %v", err)
	}
	go file.watch()

	s := &server{secrets: file}
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", s.hook)
	mux.HandleFunc("/", s.hook)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "OK")
	})
	log.Printf("peer listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
