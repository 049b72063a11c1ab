// Wharf web UI: the only script, and every page works without it. It shows the copy buttons of
// `docker pull` lines (hidden without scripts) and keeps relative times ("2 hours ago") current.

(() => {
  const units = [
    ['year', 365 * 24 * 3600],
    ['month', 30 * 24 * 3600],
    ['day', 24 * 3600],
    ['hour', 3600],
    ['minute', 60],
  ];
  function relative(iso) {
    const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
    if (!(seconds >= 0)) return null;
    for (const [unit, size] of units) {
      const n = Math.floor(seconds / size);
      if (n >= 1) return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
    }
    return 'just now';
  }
  function refreshTimes() {
    for (const el of document.querySelectorAll('time.rel[datetime]')) {
      const text = relative(el.getAttribute('datetime'));
      if (text) el.textContent = text;
    }
  }
  function setupCopy() {
    for (const button of document.querySelectorAll('button.copy[data-copy]')) {
      button.hidden = false;
      button.addEventListener('click', async () => {
        const label = button.textContent;
        try {
          await navigator.clipboard.writeText(button.getAttribute('data-copy'));
          button.textContent = 'Copied';
        } catch {
          button.textContent = 'Copy failed';
        }
        setTimeout(() => {
          button.textContent = label;
        }, 1500);
      });
    }
  }
  document.addEventListener('DOMContentLoaded', () => {
    setupCopy();
    refreshTimes();
    setInterval(refreshTimes, 60_000);
  });
})();
