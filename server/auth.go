package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// User is an authenticated API client.
type User struct {
	Name   string   `json:"name"`
	UID    string   `json:"uid,omitempty"`
	Groups []string `json:"groups,omitempty"`
	Extra  map[string][]string
}

// Authenticator turns a bearer token into a user: nil, nil when the token
// is not valid; an error when it could not be checked.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*User, error)
}

// Access is what a request wants: a verb on a resource of the virtual API
// group credence.dev (subjects, images, alerts), in a namespace or
// cluster-wide, or a non-resource path (/metrics).
type Access struct {
	Verb      string // get, list, create
	Resource  string // subjects, images, alerts
	Namespace string
	Name      string
	Path      string // a non-resource URL instead
}

// APIGroup is the virtual API group RBAC rules name to grant access to
// the server: `apiGroups: ["credence.dev"], resources: ["subjects"], verbs:
// ["get", "list"]`.
const APIGroup = "credence.dev"

// Authorizer decides whether a user may do something: allowed, or not with
// the reason; an error when it could not be decided (refused then).
type Authorizer interface {
	Authorize(ctx context.Context, u *User, a Access) (bool, string, error)
}

// KubeAuth checks tokens with the cluster's TokenReview and authorises with
// its SubjectAccessReview: the cluster's own RBAC decides who may read
// Subjects (per namespace) and post alerts. Answers are kept for a short
// time (10 s for a valid token or an allowed access, 2 s otherwise), by a
// hash of the token, at most 10,000 entries.
type KubeAuth struct {
	cs        kubernetes.Interface
	audiences []string
	cache     *ttlCache
}

var (
	_ Authenticator = (*KubeAuth)(nil)
	_ Authorizer    = (*KubeAuth)(nil)
)

// NewKubeAuth authenticates and authorises through cs; audiences, when
// given, are the token audiences to accept.
func NewKubeAuth(cs kubernetes.Interface, audiences ...string) *KubeAuth {
	return &KubeAuth{cs: cs, audiences: audiences, cache: newTTLCache(10000)}
}

// Authenticate implements Authenticator with a TokenReview.
func (k *KubeAuth) Authenticate(ctx context.Context, token string) (*User, error) {
	key := "t:" + hashToken(token)
	if v, ok := k.cache.get(key); ok {
		u, _ := v.(*User)
		return u, nil
	}
	tr, err := k.cs.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{
		Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: k.audiences}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("token review: %w", err)
	}
	if !tr.Status.Authenticated {
		k.cache.put(key, (*User)(nil), 2*time.Second)
		return nil, nil
	}
	u := &User{Name: tr.Status.User.Username, UID: tr.Status.User.UID, Groups: tr.Status.User.Groups, Extra: map[string][]string{}}
	for x, v := range tr.Status.User.Extra {
		u.Extra[x] = v
	}
	k.cache.put(key, u, 10*time.Second)
	return u, nil
}

// Authorize implements Authorizer with a SubjectAccessReview.
func (k *KubeAuth) Authorize(ctx context.Context, u *User, a Access) (bool, string, error) {
	key := fmt.Sprintf("a:%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s", u.Name, strings.Join(u.Groups, ","), a.Verb, a.Resource, a.Namespace, a.Name, a.Path)
	if v, ok := k.cache.get(key); ok {
		r := v.([2]string)
		return r[0] == "1", r[1], nil
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: u.Name, UID: u.UID, Groups: u.Groups}}
	if len(u.Extra) > 0 {
		sar.Spec.Extra = map[string]authorizationv1.ExtraValue{}
		for x, v := range u.Extra {
			sar.Spec.Extra[x] = v
		}
	}
	if a.Path != "" {
		sar.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: a.Path, Verb: a.Verb}
	} else {
		sar.Spec.ResourceAttributes = &authorizationv1.ResourceAttributes{Group: APIGroup, Resource: a.Resource, Verb: a.Verb, Namespace: a.Namespace, Name: a.Name}
	}
	r, err := k.cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, "", fmt.Errorf("subject access review: %w", err)
	}
	reason := r.Status.Reason
	if !r.Status.Allowed && reason == "" {
		reason = "no RBAC rule allows it"
	}
	if r.Status.Denied && r.Status.Reason == "" {
		reason = "denied"
	}
	ttl, v := 2*time.Second, "0"
	if r.Status.Allowed {
		ttl, v = 10*time.Second, "1"
	}
	k.cache.put(key, [2]string{v, reason}, ttl)
	return r.Status.Allowed, reason, nil
}

// Groups a static token file uses to grant access (outside a cluster).
const (
	GroupViewers = "credence:viewers" // get and list subjects and images, /metrics
	GroupAlerts  = "credence:alerts"  // create alerts
	GroupAdmins  = "credence:admins"  // everything
)

// StaticTokens authenticates with a token file and authorises by group,
// for a server outside a cluster. The file has the kube-apiserver's
// --token-auth-file format: one line per token, token,user,uid and an
// optional quoted comma-separated group list ("credence:viewers,credence:alerts").
type StaticTokens struct {
	users map[[32]byte]*User
}

var (
	_ Authenticator = (*StaticTokens)(nil)
	_ Authorizer    = (*StaticTokens)(nil)
)

// LoadStaticTokens reads a token file. Tokens shorter than 16 characters
// are refused (a guessable token is no authentication).
func LoadStaticTokens(path string) (*StaticTokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	defer f.Close()
	return ParseStaticTokens(io.LimitReader(f, 1<<20), path)
}

// ParseStaticTokens reads a token file's content; name labels errors.
func ParseStaticTokens(r io.Reader, name string) (*StaticTokens, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	st := &StaticTokens{users: map[[32]byte]*User{}}
	line := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("token file %s: %w", name, err)
		}
		if len(rec) < 3 || rec[0] == "" || rec[1] == "" {
			return nil, fmt.Errorf("token file %s, line %d: want token,user,uid[,\"groups\"]", name, line)
		}
		if len(rec[0]) < 16 {
			return nil, fmt.Errorf("token file %s, line %d: token for %s is shorter than 16 characters", name, line, rec[1])
		}
		u := &User{Name: rec[1], UID: rec[2]}
		if len(rec) > 3 && rec[3] != "" {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		st.users[sha256.Sum256([]byte(rec[0]))] = u
	}
	if len(st.users) == 0 {
		return nil, fmt.Errorf("token file %s holds no token", name)
	}
	return st, nil
}

// Authenticate implements Authenticator (constant-time comparison of the
// token's hash).
func (s *StaticTokens) Authenticate(_ context.Context, token string) (*User, error) {
	h := sha256.Sum256([]byte(token))
	for k, u := range s.users {
		if subtle.ConstantTimeCompare(k[:], h[:]) == 1 {
			return u, nil
		}
	}
	return nil, nil
}

// Authorize implements Authorizer: viewers read, alerts create alerts,
// admins (and system:masters) do everything.
func (s *StaticTokens) Authorize(_ context.Context, u *User, a Access) (bool, string, error) {
	if slices.Contains(u.Groups, GroupAdmins) || slices.Contains(u.Groups, "system:masters") {
		return true, "", nil
	}
	switch {
	case (a.Verb == "get" || a.Verb == "list") && slices.Contains(u.Groups, GroupViewers):
		return true, "", nil
	case a.Verb == "create" && a.Resource == "alerts" && slices.Contains(u.Groups, GroupAlerts):
		return true, "", nil
	}
	return false, fmt.Sprintf("user %s is not in a group that may %s %s", u.Name, a.Verb, what(a)), nil
}

func what(a Access) string {
	if a.Path != "" {
		return a.Path
	}
	return a.Resource
}

func hashToken(t string) string {
	h := sha256.Sum256([]byte(t))
	return string(h[:])
}

// ttlCache is a small map with expiry, bounded: when full, expired entries
// are dropped, and if none expired, everything.
type ttlCache struct {
	mu  sync.Mutex
	max int
	m   map[string]ttlEntry
}

type ttlEntry struct {
	v   any
	exp time.Time
}

func newTTLCache(max int) *ttlCache { return &ttlCache{max: max, m: map[string]ttlEntry{}} }

func (c *ttlCache) get(k string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || time.Now().After(e.exp) {
		return nil, false
	}
	return e.v, true
}

func (c *ttlCache) put(k string, v any, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		now := time.Now()
		for x, e := range c.m {
			if now.After(e.exp) {
				delete(c.m, x)
			}
		}
		if len(c.m) >= c.max {
			clear(c.m)
		}
	}
	c.m[k] = ttlEntry{v: v, exp: time.Now().Add(ttl)}
}
