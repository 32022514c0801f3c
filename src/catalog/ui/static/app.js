// Progressive enhancement for the Catalog UI: every page works without this file.
// - Typeahead on inputs with data-suggest (ARIA combobox: arrows, Enter, Escape).
// - Selects with data-autosubmit submit their form on change.
// - Buttons with data-confirm ask before their form is sent.
"use strict";

(function () {
  function typeahead(input) {
    var list = document.getElementById(input.getAttribute("aria-controls"));
    var endpoint = input.getAttribute("data-suggest");
    var timer = null;
    var pending = null;
    var active = -1;
    var items = [];

    function close() {
      list.hidden = true;
      list.textContent = "";
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      items = [];
      active = -1;
    }

    function mark(index) {
      items.forEach(function (li, i) {
        li.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      active = index;
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", items[index].id);
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function go(suggestion) {
      if (suggestion.kind === "product") {
        window.location.href = "/ui/products/" + encodeURIComponent(suggestion.id);
      } else if (suggestion.kind === "tag") {
        window.location.href = "/ui/search?tag=" + encodeURIComponent(suggestion.text);
      } else if (suggestion.kind === "element") {
        window.location.href = "/ui/registry/elements/" + encodeURIComponent(suggestion.id);
      } else {
        input.value = suggestion.text;
        input.form.submit();
      }
    }

    function show(suggestions) {
      close();
      suggestions.forEach(function (suggestion, i) {
        var li = document.createElement("li");
        li.id = input.id + "-option-" + i;
        li.setAttribute("role", "option");
        li.setAttribute("aria-selected", "false");
        li.textContent = suggestion.text;  // text, never HTML
        var kind = document.createElement("small");
        kind.textContent = " " + suggestion.kind;
        li.appendChild(kind);
        li.addEventListener("mousedown", function (event) {
          event.preventDefault();
          go(suggestion);
        });
        li.suggestion = suggestion;
        list.appendChild(li);
        items.push(li);
      });
      if (items.length) {
        list.hidden = false;
        input.setAttribute("aria-expanded", "true");
      }
    }

    function ask() {
      var q = input.value.trim();
      if (!q) {
        close();
        return;
      }
      if (pending) {
        pending.abort();
      }
      pending = new AbortController();
      fetch(endpoint + "?q=" + encodeURIComponent(q), {
        signal: pending.signal,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.ok ? response.json() : { suggestions: [] };
        })
        .then(function (answer) {
          if (input.value.trim() === q) {
            show(answer.suggestions || []);
          }
        })
        .catch(function () {});
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, 60);
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" && items.length) {
        event.preventDefault();
        mark((active + 1) % items.length);
      } else if (event.key === "ArrowUp" && items.length) {
        event.preventDefault();
        mark(active <= 0 ? items.length - 1 : active - 1);
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        go(items[active].suggestion);
      } else if (event.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", function () {
      setTimeout(close, 150);
    });
  }

  function ready() {
    document.querySelectorAll("input[data-suggest]").forEach(typeahead);
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () {
        select.form.submit();
      });
    });
    document.querySelectorAll("[data-confirm]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
