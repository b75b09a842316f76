// Progressive enhancement only: every page works without this file.
// 1. Each <time class="when"> (rendered in UTC by the server) gets the viewer's local time beside it.
// 2. Buttons with data-confirm ask before their form is sent.
(function () {
  'use strict';
  var zone = '';
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { zone = ''; }
  var format = function (date) {
    var pad = function (n) { return String(n).padStart(2, '0'); };
    return date.getFullYear() + '-' + pad(date.getMonth() + 1) + '-' + pad(date.getDate()) + ' ' + pad(date.getHours()) + ':' + pad(date.getMinutes());
  };
  var localise = function (root) {
    if (!zone || zone === 'UTC' || zone === 'Etc/UTC') return;
    var times = root.querySelectorAll('time.when:not([data-local])');
    for (var i = 0; i < times.length; i++) {
      var time = times[i];
      var date = new Date(time.getAttribute('datetime'));
      if (isNaN(date.getTime())) continue;
      time.setAttribute('data-local', '');
      var local = document.createElement('span');
      local.className = 'viewer-time';
      local.textContent = format(date) + ' ' + zone;
      time.after(local);
    }
  };
  var start = function () {
    localise(document);
    var footer = document.querySelector('.viewer-zone');
    if (footer && zone && zone !== 'UTC' && zone !== 'Etc/UTC') footer.textContent = ', with your own time (' + zone + ') below each';
    document.body.addEventListener('htmx:afterSwap', function (event) { localise(event.target.parentNode || document); });
    document.body.addEventListener('htmx:sseMessage', function (event) { localise(event.target.parentNode || document); });
    document.addEventListener('submit', function (event) {
      var button = event.submitter;
      var question = button && button.getAttribute('data-confirm');
      if (question && !window.confirm(question)) event.preventDefault();
    });
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
