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
