// The run page's log: follows a live run's log over Server-Sent Events (the same LogFollowers stream
// as GET /runs/{id}/logs?follow=true), and searches the lines the page holds. Text goes into the page
// with textContent only, never as HTML: a log line that holds markup shows as the text it is.
(function () {
  'use strict';

  // The server shows a flash once ("Triggered report#1."), and a run that ends while its page loads
  // reloads that page at once (the stream's `end`, below): the message is carried over that reload.
  const CARRIED_FLASH = 'kubescribe:run-flash';
  try {
    const carried = JSON.parse(sessionStorage.getItem(CARRIED_FLASH) || 'null');
    sessionStorage.removeItem(CARRIED_FLASH);
    const main = document.getElementById('main');
    if (carried && carried.path === window.location.pathname && main && !main.querySelector(':scope > p.flash')) {
      const flash = document.createElement('p');
      flash.className = 'flash';
      flash.setAttribute('role', 'status');
      flash.textContent = String(carried.text);
      main.prepend(flash);
    }
  } catch {
    // No session storage (a privacy setting): the message is simply not carried over.
  }

  const log = document.getElementById('run-log');
  if (!log) return;
  const body = log.querySelector('.log-lines');

  // ----- search within the loaded log
  const search = document.getElementById('log-filter');
  const only = document.getElementById('log-filter-only');
  const count = document.getElementById('log-filter-count');

  function applyFilter() {
    if (!search) return;
    const needle = search.value.trim().toLowerCase();
    let matches = 0;
    for (const line of body.querySelectorAll('.ln')) {
      const hit = needle !== '' && line.textContent.toLowerCase().includes(needle);
      line.classList.toggle('match', hit);
      line.hidden = needle !== '' && only && only.checked && !hit;
      if (hit) matches++;
    }
    if (count) count.textContent = needle === '' ? '' : `${matches} matching line${matches === 1 ? '' : 's'} in the loaded log`;
  }
  if (search) {
    search.addEventListener('input', applyFilter);
    if (only) only.addEventListener('change', applyFilter);
    // Lines loaded later (a gap opened, live output) are searched too.
    document.body.addEventListener('htmx:afterSettle', applyFilter);
  }

  // ----- the live log
  const streamUrl = log.dataset.streamUrl;
  if (!streamUrl || typeof EventSource === 'undefined') return;
  const live = document.createElement('span');
  live.className = 'log-live';
  body.appendChild(live);
  // The last line of each stream may be unfinished: the next chunk of that stream continues it.
  let open = null;
  let started = false;

  function newLine(stream) {
    const line = document.createElement('span');
    line.className = `ln ${stream}`;
    live.appendChild(line);
    return line;
  }

  function append(chunk) {
    const nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    if (chunk.stream === 'system') {
      open = null;
      const marker = newLine('system');
      marker.setAttribute('role', 'note');
      marker.textContent = chunk.text.replace(/\n+$/, '') + '\n';
    } else {
      const parts = chunk.text.split('\n');
      parts.forEach((part, i) => {
        if (!open || open.stream !== chunk.stream) open = { stream: chunk.stream, node: newLine(chunk.stream), text: '' };
        open.text += part;
        const done = i < parts.length - 1;
        open.node.textContent = open.text + (done ? '\n' : '');
        if (done) open = null;
      });
      if (parts[parts.length - 1] === '' && open && open.text === '') {
        open.node.remove();
        open = null;
      }
    }
    if (search && search.value) applyFilter();
    if (nearBottom) window.scrollTo(0, document.body.scrollHeight);
  }

  const status = document.getElementById('log-live-status');
  const say = (text) => {
    if (status) status.textContent = text;
  };
  const source = new EventSource(`${streamUrl}?after_seq=${encodeURIComponent(log.dataset.afterSeq || '0')}`);
  say('Following the log live…');
  source.addEventListener('log', (event) => {
    append(JSON.parse(event.data));
    if (!started) {
      started = true;
      const empty = log.querySelector('.log-empty');
      if (empty) empty.remove();
    }
  });
  // The run's live status as the stream reads it (first at once, then on each change): a queued run
  // that starts shows as running without a reload, even before it writes anything. A final status
  // comes only with `end`, which reloads the whole page.
  source.addEventListener('status', (event) => {
    const status = JSON.parse(event.data).status;
    if (status === log.dataset.status) return;
    log.dataset.status = status;
    document.body.dispatchEvent(new CustomEvent('run-changed'));
  });
  source.addEventListener('end', () => {
    source.close();
    say('The run has finished; loading its record…');
    const flash = document.querySelector('#main > p.flash[role=status]');
    try {
      if (flash) sessionStorage.setItem(CARRIED_FLASH, JSON.stringify({ path: window.location.pathname, text: flash.textContent }));
    } catch {
      // As above.
    }
    // The stored log, outputs and final status are at this same URL.
    window.location.reload();
  });
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) say('The live log was interrupted; reload the page to resume.');
    else say('Reconnecting to the live log…');
  });
})();
