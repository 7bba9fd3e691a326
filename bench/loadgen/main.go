// Command loadgen drives CometBFT's RPC with pre-built transactions for `make bench`.
//
// It reads lines "<client> <hex tx>" from -txs, starts one goroutine per client, each with its own keep-alive
// HTTP connection to one node (clients are spread over the -rpc URLs), and sends that client's transactions in
// file order through broadcast_tx_sync until they run out or -duration passes. A full mempool is retried after a
// short pause with the same transaction, so per-sender nonce order is never broken. With -rate the clients
// send on a fixed schedule (open loop) instead of as fast as CheckTx answers. It writes one JSON object:
// the send time (unix ns) and CheckTx outcome of every transaction, in file order ("sent": false when not sent).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

type entry struct {
	client int
	hexTx  string
}

type outcome struct {
	Sent   bool   `json:"sent"`
	SendNs int64  `json:"send_ns"`
	Code   int    `json:"code"`
	Error  string `json:"error,omitempty"`
	Tries  int    `json:"tries"`
}

type rpcReply struct {
	Result *struct {
		Code int    `json:"code"`
		Log  string `json:"log"`
	} `json:"result"`
	Error *struct {
		Message string `json:"message"`
		Data    string `json:"data"`
	} `json:"error"`
}

func readTxs(path string) ([]entry, int, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer fh.Close()
	var out []entry
	clients := 0
	scanner := bufio.NewScanner(fh)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) != 2 {
			return nil, 0, fmt.Errorf("line %d: want \"<client> <hex tx>\"", len(out)+1)
		}
		c, err := strconv.Atoi(fields[0])
		if err != nil || c < 0 {
			return nil, 0, fmt.Errorf("line %d: bad client index %q", len(out)+1, fields[0])
		}
		if c+1 > clients {
			clients = c + 1
		}
		out = append(out, entry{c, fields[1]})
	}
	return out, clients, scanner.Err()
}

// send posts one transaction; retry reports a full mempool (send the same transaction again later).
func send(client *http.Client, url, hexTx string) (code int, errText string, retry bool) {
	resp, err := client.Get(url + "/broadcast_tx_sync?tx=0x" + hexTx)
	if err != nil {
		return -1, err.Error(), true
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return -1, err.Error(), true
	}
	var reply rpcReply
	if err := json.Unmarshal(body, &reply); err != nil {
		return -1, "bad reply: " + err.Error(), false
	}
	if reply.Error != nil {
		text := reply.Error.Message + ": " + reply.Error.Data
		if strings.Contains(text, "mempool is full") {
			return -1, text, true
		}
		return -1, text, false
	}
	if reply.Result == nil {
		return -1, "reply without result", false
	}
	return reply.Result.Code, reply.Result.Log, false
}

func main() {
	rpcs := flag.String("rpc", "", "comma-separated CometBFT RPC URLs (http://host:port)")
	txsPath := flag.String("txs", "", "file of \"<client> <hex tx>\" lines")
	duration := flag.Duration("duration", 20*time.Second, "stop sending after this long")
	outPath := flag.String("out", "", "JSON output file (default stdout)")
	rate := flag.Float64("rate", 0, "total transactions per second over all clients; 0 = as fast as CheckTx answers")
	flag.Parse()
	urls := strings.Split(*rpcs, ",")
	if *rpcs == "" || *txsPath == "" {
		fmt.Fprintln(os.Stderr, "loadgen: -rpc and -txs are required")
		os.Exit(2)
	}
	txs, clients, err := readTxs(*txsPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	perClient := make([][]int, clients)
	for i, e := range txs {
		perClient[e.client] = append(perClient[e.client], i)
	}
	results := make([]outcome, len(txs))
	deadline := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			httpClient := &http.Client{Timeout: 30 * time.Second,
				Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
			url := urls[c%len(urls)]
			next := time.Now()
			for _, i := range perClient[c] {
				if *rate > 0 { // open loop: this client's share of the rate, on a fixed schedule
					next = next.Add(time.Duration(float64(clients) / *rate * float64(time.Second)))
					if wait := time.Until(next); wait > 0 {
						time.Sleep(wait)
					}
				}
				res := &results[i]
				for time.Now().Before(deadline) {
					res.Tries++
					res.SendNs = time.Now().UnixNano()
					code, text, retry := send(httpClient, url, txs[i].hexTx)
					if retry {
						time.Sleep(20 * time.Millisecond)
						continue
					}
					res.Sent, res.Code, res.Error = true, code, text
					break
				}
				if !res.Sent {
					return
				}
			}
		}(c)
	}
	wg.Wait()
	encoded, _ := json.Marshal(map[string]any{"clients": clients, "results": results})
	if *outPath == "" {
		os.Stdout.Write(encoded)
		return
	}
	if err := os.WriteFile(*outPath, encoded, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
