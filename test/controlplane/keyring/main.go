// Command keyring asks kubelet's own credential lookup which pull-secret credentials it would use
// for an image. Built from the same k8s.io/kubernetes module as the test control plane (see
// test/tools/build-keyring.sh), so the answer is that of the kubelet of that version.
//
// Input on stdin:  {"secrets": [{"name": "...", "dockerconfigjson": "<raw JSON text>"}], "images": ["nginx"]}
// Output on stdout: {"results": [{"image": "nginx", "repo": "docker.io/library/nginx",
//
//	"credentials": [{"username": "...", "server": "...", "secret": "..."}]}]}
//
// Passwords are never printed.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/pkg/credentialprovider"
	"k8s.io/kubernetes/pkg/credentialprovider/secrets"
	"k8s.io/kubernetes/pkg/util/parsers"
)

type input struct {
	Secrets []struct {
		Name             string `json:"name"`
		DockerConfigJSON string `json:"dockerconfigjson"`
	} `json:"secrets"`
	Images []string `json:"images"`
}

type credential struct {
	Username string `json:"username"`
	Server   string `json:"server,omitempty"`
	Secret   string `json:"secret,omitempty"`
}

type result struct {
	Image       string       `json:"image"`
	Repo        string       `json:"repo,omitempty"`
	Credentials []credential `json:"credentials"`
	Error       string       `json:"error,omitempty"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "keyring:", err)
		os.Exit(1)
	}
}

func run() error {
	var in input
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		return fmt.Errorf("reading input: %w", err)
	}
	pullSecrets := make([]v1.Secret, 0, len(in.Secrets))
	for _, s := range in.Secrets {
		pullSecrets = append(pullSecrets, v1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: s.Name},
			Type:       v1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{v1.DockerConfigJsonKey: []byte(s.DockerConfigJSON)},
		})
	}
	// As kubelet's image manager does for a pod's imagePullSecrets, with an empty node keyring in
	// place of the node's config files and credential provider plugins.
	keyring, err := secrets.MakeDockerKeyring(pullSecrets, credentialprovider.UnionDockerKeyring{})
	if err != nil {
		return fmt.Errorf("building the keyring: %w", err)
	}
	results := make([]result, 0, len(in.Images))
	for _, image := range in.Images {
		r := result{Image: image, Credentials: []credential{}}
		// kubelet looks up the normalized repository (docker.io/library/nginx), not the spelling.
		repo, _, _, err := parsers.ParseImageName(image)
		if err != nil {
			r.Error = err.Error()
			results = append(results, r)
			continue
		}
		r.Repo = repo
		found, _ := keyring.Lookup(repo)
		for _, c := range found {
			cred := credential{Username: c.Username, Server: c.ServerAddress}
			if c.Source != nil && c.Source.Secret != nil {
				cred.Secret = c.Source.Secret.Name
			}
			r.Credentials = append(r.Credentials, cred)
		}
		results = append(results, r)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	return out.Encode(map[string][]result{"results": results})
}
