package gateway

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Roles a token can hold. admin may do everything; the others are kept
// apart so that, say, a journal source cannot read what it sends.
const (
	RoleIngest     = "ingest"
	RoleSupervisor = "supervisor"
	RoleLegal      = "legal"
	RoleAdmin      = "admin"
	RoleAuditor    = "auditor"
)

// Token is a bearer token known by the hash of its secret.
type Token struct {
	Name        string `json:"name"`
	Role        string `json:"role"`
	TokenSHA256 string `json:"token_sha256"`
}

// authenticator checks bearer tokens against their SHA-256 hashes.
type authenticator struct {
	tokens []Token
}

// HashToken returns the hex SHA-256 under which a token secret is stored.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// caller is who made a request.
type caller struct {
	Name, Role string
}

func (a *authenticator) authenticate(r *http.Request) (caller, *APIError) {
	h := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || secret == "" {
		return caller{}, &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized,
			Message: "missing bearer token: send Authorization: Bearer <token>"}
	}
	sum := HashToken(secret)
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare([]byte(sum), []byte(t.TokenSHA256)) == 1 {
			return caller{Name: t.Name, Role: t.Role}, nil
		}
	}
	return caller{}, &APIError{Status: http.StatusUnauthorized, Code: CodeUnauthorized, Message: "unknown or revoked token"}
}

func (c caller) may(role string) bool { return c.Role == role || c.Role == RoleAdmin }

// tokenFile is where the generated admin token's hash is kept.
const tokenFile = "tokens.json"

// loadOrCreateAdmin returns the tokens stored in dir; when there are none
// and none are configured, it generates an admin token, stores its hash and
// returns the secret so that the caller can show it once.
func loadOrCreateAdmin(dir string, configured []Token) (tokens []Token, secret string, err error) {
	path := filepath.Join(dir, tokenFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &tokens); err != nil {
			return nil, "", fmt.Errorf("read %s: %w", path, err)
		}
		return tokens, "", nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	case len(configured) > 0:
		return nil, "", nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", fmt.Errorf("generate admin token: %w", err)
	}
	secret = "hf_" + base64.RawURLEncoding.EncodeToString(raw)
	tokens = []Token{{Name: "admin", Role: RoleAdmin, TokenSHA256: HashToken(secret)}}
	b, err = json.MarshalIndent(tokens, "", "  ")
	if err != nil {
		return nil, "", err
	}
	if err := writeFileSync(path, b, 0o600); err != nil {
		return nil, "", err
	}
	return tokens, secret, nil
}

// writeFileSync writes a file atomically and durably.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
