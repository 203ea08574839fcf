package assess

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// dockerConfigKeychain reads a pull secret's .dockerconfigjson ({"auths":
// {...}}) or legacy .dockercfg (the auths map alone) as a keychain.
func dockerConfigKeychain(b []byte) (authn.Keychain, error) {
	var cfg struct {
		Auths map[string]dockerAuth `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("not a docker config: %w", err)
	}
	if cfg.Auths == nil {
		if err := json.Unmarshal(b, &cfg.Auths); err != nil {
			return nil, fmt.Errorf("not a docker config: %w", err)
		}
	}
	if len(cfg.Auths) == 0 {
		return nil, errors.New("docker config lists no registries")
	}
	kc := secretKeychain{}
	for host, a := range cfg.Auths {
		if a.Auth != "" && a.Username == "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("registry %s: auth is not base64", host)
			}
			u, p, ok := strings.Cut(string(raw), ":")
			if !ok {
				return nil, fmt.Errorf("registry %s: auth is not user:password", host)
			}
			a.Username, a.Password = u, p
		}
		kc[registryHost(host)] = authn.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, RegistryToken: a.RegistryToken}
	}
	return kc, nil
}

type dockerAuth struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// secretKeychain maps registry hosts to credentials.
type secretKeychain map[string]authn.AuthConfig

// Resolve implements authn.Keychain.
func (k secretKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if c, ok := k[registryHost(r.RegistryStr())]; ok {
		return authn.FromConfig(c), nil
	}
	return authn.Anonymous, nil
}

// registryHost reduces "https://index.docker.io/v1/" or "docker.io" to the
// host go-containerregistry uses ("index.docker.io").
func registryHost(s string) string {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if r, err := name.NewRegistry(s); err == nil {
		return r.RegistryStr()
	}
	return s
}
