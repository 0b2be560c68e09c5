package admin_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/actor/actortest"
	"github.com/legion-go/legion/actor/admin"
)

// chromium finds the browser: $LEGION_CHROMIUM, else Debian's chromium package (which
// .ci/chromium installs). It skips the test, saying how to install it, when there is none.
func chromium(t *testing.T) string {
	if p := os.Getenv("LEGION_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium on a CI machine: .ci/run installs it with .ci/chromium (Debian's chromium package)")
	}
	t.Skip("no Chromium: install Debian's chromium package (.ci/chromium does, as root) or set LEGION_CHROMIUM to a Chromium binary")
	return ""
}

// TestDashboard opens the dashboard of node 0 of a real 3-node cluster in a real headless
// Chromium: it must list three live members; once node 2 is cut off from the others and
// node 0 writes, it must show node 2 as a stalled peer. Screenshots of both go to the test's
// artifact directory (go test -artifacts keeps them).
func TestDashboard(t *testing.T) {
	path := chromium(t)
	c, urls := cluster(t, 3, actor.Config{}, admin.Options{})
	write(t, c.Nodes[0], 5)

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 1000))...)
	defer cancelAlloc()
	// No timeout on the context of the first Run: it would stop the browser (chromedp.Run);
	// the test's timeout bounds it, and each action later has its own.
	ctx, cancelCtx := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	defer cancelCtx()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(urls[0]+"/")); err != nil {
		t.Fatalf("opening the dashboard in %s: %v", path, err)
	}
	run := func(a chromedp.Action[bool]) (bool, error) {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return chromedp.Run(actx, a)
	}

	// waitFor polls a JavaScript condition in the page until it is true.
	waitFor := func(what, js string) {
		t.Helper()
		actortest.Eventually(t, 20*time.Second, func() error {
			ok, err := run(chromedp.Evaluate[bool](js))
			if err != nil {
				return err
			}
			if !ok {
				text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("main").innerText`))
				return fmt.Errorf("the page does not show %s; it shows:\n%s", what, text)
			}
			return nil
		})
	}
	screenshot := func(name string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100)) // quality 100: PNG (below it, JPEG)
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.ArtifactDir(), name)
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", file, len(png))
	}

	waitFor("three live members", `document.querySelectorAll("#members tbody tr.live").length === 3 && document.querySelectorAll("#members tbody tr").length === 3`)
	waitFor("the node ready", `document.getElementById("health").textContent === "ready"`)
	waitFor("five partitions", `document.querySelectorAll("#partitions tbody tr").length === 5`)
	waitFor("five partitions on each member", `[...document.querySelectorAll("#members tbody td.partitions")].every((td) => td.textContent === "5")`)
	waitFor("rates", `document.querySelector('.card[data-key="flushes/s"]') !== null`)
	screenshot("dashboard.png")

	c.Cut(0, 2) // node 2's links, both ways: membership still lists it
	c.Cut(1, 2)
	callCtx, cancelCalls := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelCalls()
	for i := range 5 {
		if _, err := actor.RefOf(c.Nodes[0], counter, fmt.Sprintf("k%02d", i)).Call(callCtx, wrapperspb.Int64(1), actor.Fast); err != nil {
			t.Fatal(err)
		}
	}
	peer2 := string(c.Nodes[2].Peer())
	waitFor("node 2 as a stalled peer", fmt.Sprintf(`document.querySelector('#stalled-peers tbody tr[data-peer=%q]') !== null`, peer2))
	waitFor("stalled partitions", `document.querySelectorAll("#stalled-partitions tbody tr").length > 0`)
	screenshot("dashboard-stalled.png")
}
