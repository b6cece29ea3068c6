package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// These helpers run the real llmrouter binary as separate processes on
// loopback ports, the way replicas run behind a load balancer.

// buildBinary compiles cmd/llmrouter into a temporary directory (the build
// cache makes repeated calls cheap) and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "llmrouter")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is one running llmrouter.
type process struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	logs   *syncBuffer
	exited chan struct{}
	served atomic.Int64 // successful /v1 requests the test sent to it
}

// startProcess runs bin -config cfgPath -listen 127.0.0.1:0 with env added
// to the environment and waits until it logs its address. The process is
// killed at the end of the test if it still runs.
func startProcess(t *testing.T, name, bin, cfgPath string, env []string) *process {
	t.Helper()
	p := &process{t: t, name: name, logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "-config", cfgPath, "-listen", "127.0.0.1:0")
	p.cmd.Env = append(os.Environ(), env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.logs, line)
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "llmrouter listening" {
				select {
				case addr <- rec.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s logs:\n%s", p.name, p.logs.String())
		}
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
	case <-p.exited:
		t.Fatalf("%s exited at start-up:\n%s", name, p.logs.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start listening in 30s:\n%s", name, p.logs.String())
	}
	return p
}

// waitReady polls /readyz until it answers 200 and its body contains want.
func (p *process) waitReady(want string) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(p.base + "/readyz")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), want) {
				return
			}
			if time.Now().After(deadline) {
				p.t.Fatalf("%s not ready: %d %s", p.name, resp.StatusCode, b)
			}
		} else if time.Now().After(deadline) {
			p.t.Fatalf("%s not ready: %v", p.name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signal sends sig to the process.
func (p *process) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("%s: signal %v: %v", p.name, sig, err)
	}
}

// waitExit waits for the process to end and returns its exit code.
func (p *process) waitExit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		p.t.Fatalf("%s still running %s after the signal", p.name, timeout)
		return -1
	}
}

// waitLog waits until the logs contain s.
func (p *process) waitLog(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.logs.String(), s) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s never logged %q:\n%s", p.name, s, p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
