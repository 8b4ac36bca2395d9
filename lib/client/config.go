package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ConfigPath is where the configuration is read from: explicit when given, else
// $SIGNUM_CONFIG, else the user config dir's signum/config.json.
func ConfigPath(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p := os.Getenv("SIGNUM_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("%w: no config directory (%v); pass --config or set SIGNUM_CONFIG", ErrConfig, err)
	}
	return filepath.Join(dir, "signum", "config.json"), nil
}

// LoadConfig reads the configuration file at path (a missing file is an empty
// configuration) and applies the environment: SIGNUM_URL, SIGNUM_HOST, SIGNUM_CA, SIGNUM_P12,
// SIGNUM_P12_PASSWORD and SIGNUM_TOKEN. The CLI and the PKCS#11 module read the same.
func LoadConfig(path string) (Config, error) {
	var cfg Config
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return cfg, fmt.Errorf("%w: %s is not valid JSON: %v", ErrConfig, path, err)
		}
	case !errors.Is(err, os.ErrNotExist):
		return cfg, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	for env, field := range map[string]*string{"SIGNUM_URL": &cfg.URL, "SIGNUM_HOST": &cfg.Host, "SIGNUM_CA": &cfg.CAFile,
		"SIGNUM_P12": &cfg.P12, "SIGNUM_TOKEN": &cfg.Token, "SIGNUM_P12_PASSWORD": &cfg.P12Password} {
		if v := os.Getenv(env); v != "" {
			*field = v
		}
	}
	if cfg.P12 != "" && os.Getenv("SIGNUM_TOKEN") != "" {
		cfg.P12 = "" // an explicit token in the environment wins over a configured .p12
	}
	return cfg, nil
}

// ciVariables are the CI systems' variables a signing request reports (the job it ran in).
var ciVariables = []string{"CI", "GITHUB_REPOSITORY", "GITHUB_RUN_ID", "GITHUB_SHA", "GITHUB_WORKFLOW", "GITLAB_CI", "CI_PROJECT_PATH",
	"CI_PIPELINE_ID", "CI_JOB_ID", "CI_COMMIT_SHA", "BUILD_ID", "BUILD_NUMBER", "JOB_NAME", "BUILDKITE_BUILD_ID", "CIRCLE_BUILD_NUM"}

// Machine is what every signing request reports about where it runs: the host name and
// the CI job's variables (nil outside CI).
func Machine() (host string, ci map[string]string) {
	host, _ = os.Hostname()
	for _, k := range ciVariables {
		if v := os.Getenv(k); v != "" && len(v) <= 1024 {
			if ci == nil {
				ci = map[string]string{}
			}
			ci[k] = v
		}
	}
	return host, ci
}
