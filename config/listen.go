package config

import (
	"fmt"
	"net"
	"os"

	yaml "go.yaml.in/yaml/v3"
)

// DefaultListen is server.listen when the file sets none.
const DefaultListen = ":8080"

// ListenAddress returns server.listen from the YAML file at path (":8080"
// when unset) without validating the rest of the file and without reading
// the environment: a health probe must find the port even where the
// process's secrets are not visible to it.
func ListenAddress(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	var doc struct {
		Server struct {
			Listen string `yaml:"listen"`
		} `yaml:"server"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("config %s: %w", path, err)
	}
	if doc.Server.Listen == "" {
		return DefaultListen, nil
	}
	return doc.Server.Listen, nil
}

// LocalURL turns a listen address into the base URL a process on the same
// host dials: an empty or unspecified host (":8080", "0.0.0.0:8080",
// "[::]:8080") becomes the loopback address 127.0.0.1.
func LocalURL(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("server.listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}
