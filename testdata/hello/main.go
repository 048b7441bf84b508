// Command hello counts the words of a short embedded text and prints the
// most frequent ones. It is the example of stillgo's README.
package main

import (
	"fmt"
	"sort"
	"strings"
)

const text = `The quick brown fox jumps over the lazy dog.
The dog sleeps; the fox runs away. A quick fox is a happy fox.`

// WordCount is one word and how many times it occurs.
type WordCount struct {
	Word  string
	Count int
}

// Counter accumulates word frequencies.
type Counter struct {
	counts map[string]int
	total  int
}

// NewCounter returns an empty counter.
func NewCounter() *Counter {
	return &Counter{counts: make(map[string]int)}
}

// Add records one occurrence of word.
func (c *Counter) Add(word string) {
	c.counts[word]++ // BP:add
	c.total++
}

// Top returns the n most frequent words, most frequent first.
func (c *Counter) Top(n int) []WordCount {
	list := make([]WordCount, 0, len(c.counts))
	for w, k := range c.counts {
		list = append(list, WordCount{Word: w, Count: k})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].Count != list[j].Count {
			return list[i].Count > list[j].Count
		}
		return list[i].Word < list[j].Word
	})
	if len(list) > n {
		list = list[:n]
	}
	return list // BP:top
}

// normalize lower-cases a word and strips punctuation around it.
func normalize(word string) string {
	return strings.ToLower(strings.Trim(word, ".,;:!?"))
}

// countWords feeds every word of text into a new Counter.
func countWords(text string) *Counter {
	c := NewCounter()
	words := strings.Fields(text)
	for _, w := range words {
		word := normalize(w) // BP:loop
		if word == "" {
			continue
		}
		c.Add(word)
	}
	return c // BP:count
}

func main() {
	c := countWords(text)
	top := c.Top(3)
	fmt.Printf("%d words, %d distinct\n", c.total, len(c.counts))
	for rank, wc := range top {
		fmt.Printf("%d. %s %d\n", rank+1, wc.Word, wc.Count) // BP:print
	}
}
