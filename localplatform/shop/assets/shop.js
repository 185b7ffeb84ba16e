// The demo shop's pages, rendered from the catalog in /config.js (window.SHOP) and tracked with
// the built tracker (window.clickstream). The shop keeps its own cart, sign-in and placed orders
// in localStorage, as a real shop's frontend would; the tracker keeps its ids and queue itself.
"use strict";
(function () {
  const shop = window.SHOP;
  const page = document.body.dataset.page;
  const main = document.getElementById("main");
  const byId = new Map(shop.catalog.map((p) => [p.id, p]));
  const money = (n) => `${shop.currency} ${n.toFixed(2)}`;

  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith("data-")) node.setAttribute(k, v);
      else node[k] = v;
    }
    node.append(...children);
    return node;
  };
  const load = (key, fallback) => JSON.parse(localStorage.getItem(key) || "null") ?? fallback;
  const save = (key, value) => localStorage.setItem(key, JSON.stringify(value));
  // crypto.randomUUID only exists in secure contexts (https, localhost); getRandomValues everywhere.
  const uuid = () => crypto.randomUUID ? crypto.randomUUID() : "10000000-1000-4000-8000-100000000000".replace(/[018]/g,
    (c) => (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));

  const cart = () => load("shop_cart", []).filter((line) => byId.has(line.id));
  const cartValue = (lines) => Math.round(lines.reduce((n, l) => n + byId.get(l.id).discountPrice * l.quantity, 0) * 100) / 100;
  const lineItems = (lines) => lines.map((l) => ({ productId: l.id, quantity: l.quantity, price: byId.get(l.id).discountPrice }));

  function productCard(p) {
    return el("li", { className: "card" },
      el("a", { href: p.urlPath, "data-product": p.id }, p.name),
      el("div", { className: "meta" }, `${p.brand} · `, el("span", { className: "price" }, money(p.discountPrice))));
  }

  function showCartCount() {
    const count = cart().reduce((n, l) => n + l.quantity, 0);
    document.getElementById("cart-link").textContent = count ? `Cart (${count})` : "Cart";
  }

  function header() {
    const nav = document.getElementById("categories");
    for (const c of shop.categories) nav.append(el("a", { href: c.path, "data-category": c.name }, c.name));
    showCartCount();
    const account = document.getElementById("account");
    const user = load("shop_user", null);
    account.textContent = user ? "Sign out" : "Sign in";
    account.onclick = () => {
      if (load("shop_user", null)) {
        localStorage.removeItem("shop_user");
        clickstream.logout();
      } else {
        const id = uuid();
        save("shop_user", id);
        clickstream.login(id);
      }
      account.textContent = load("shop_user", null) ? "Sign out" : "Sign in";
    };
  }

  // Each page sets its title and content first, then the tracker starts (its page view reads the title).
  const pages = {
    home() {
      document.title = "Demo Computer Shop";
      const featured = shop.categories.map((c) => shop.catalog.find((p) => p.category == c.name));
      main.append(el("h1", {}, "Computers, parts and accessories"),
        el("ul", { className: "grid" }, ...featured.map(productCard)));
    },
    category() {
      const category = shop.categories.find((c) => c.path == location.pathname);
      if (!category) return notFound();
      document.title = category.name;
      main.append(el("h1", {}, category.name),
        el("ul", { className: "grid" }, ...shop.catalog.filter((p) => p.category == category.name).map(productCard)));
    },
    product() {
      const p = shop.catalog.find((q) => q.urlPath == location.pathname);
      if (!p) return notFound();
      document.title = p.name;
      const quantity = el("select", { id: "quantity" }, ...[1, 2, 3].map((n) => el("option", { value: n }, String(n))));
      const added = el("p", { id: "added", className: "note" });
      const add = el("button", { id: "add-to-cart", type: "button" }, "Add to cart");
      add.onclick = () => {
        const n = Number(quantity.value);
        const lines = cart();
        const line = lines.find((l) => l.id == p.id);
        if (line) line.quantity += n;
        else lines.push({ id: p.id, quantity: n });
        save("shop_cart", lines);
        clickstream.addToCart(p, n);
        showCartCount();
        added.textContent = `Added ${n} to the cart.`;
      };
      const list = p.price > p.discountPrice ? [el("s", {}, money(p.price)), " "] : [];
      main.append(el("h1", {}, p.name), el("p", { className: "meta" }, `${p.brand} · ${p.category}`),
        el("p", { className: "price" }, ...list, money(p.discountPrice)), quantity, add, added);
      return () => clickstream.productView(p);
    },
    cart() {
      document.title = "Cart";
      const lines = cart();
      main.append(el("h1", {}, "Cart"));
      if (!lines.length) return main.append(el("p", {}, "The cart is empty."));
      const rows = lines.map((l) => {
        const p = byId.get(l.id);
        const remove = el("button", { type: "button", className: "remove", "data-product": p.id }, "Remove");
        remove.onclick = () => {
          save("shop_cart", cart().filter((x) => x.id != p.id));
          clickstream.removeFromCart(p, l.quantity);
          row.remove();
          showCartCount();
        };
        const row = el("li", { className: "line" }, `${l.quantity} × ${p.name} `, el("span", { className: "price" },
          money(p.discountPrice * l.quantity)), " ", remove);
        return row;
      });
      main.append(el("ul", { className: "lines" }, ...rows), el("a", { id: "checkout", href: "/checkout" }, "Checkout"));
    },
    checkout() {
      document.title = "Checkout";
      const lines = cart();
      if (!lines.length) return main.append(el("h1", {}, "Checkout"), el("p", {}, "The cart is empty."));
      const value = cartValue(lines);
      const place = el("button", { id: "place-order", type: "button" }, "Place order");
      place.onclick = async () => {
        // The order as the shop's backend would store it (its database makes uuids); this static
        // shop has none, so the order waits in shop_orders for whoever plays the backend (the demo).
        const orderId = uuid();
        const order = { orderId, revenue: value, currency: shop.currency, items: lineItems(lines),
          userId: load("shop_user", null), placedAt: new Date().toISOString() };
        save("shop_orders", [...load("shop_orders", []), order]);
        clickstream.purchase({ orderId, revenue: value, currency: shop.currency, items: order.items });
        save("shop_cart", []);
        location.href = `/checkout/complete?order=${encodeURIComponent(orderId)}`;
      };
      main.append(el("h1", {}, "Checkout"), el("p", {}, `${lines.length} item(s), total `,
        el("span", { className: "price" }, money(value))), place);
      return () => clickstream.beginCheckout({ value, currency: shop.currency, items: lineItems(lines) });
    },
    "thank-you"() {
      document.title = "Thank you";
      const order = new URLSearchParams(location.search).get("order") || "";
      main.append(el("h1", {}, "Thank you!"), el("p", { id: "order" }, `Order ${order} is placed.`));
    },
  };
  function notFound() {
    document.title = "Not found";
    main.append(el("h1", {}, "Not found"));
  }

  const afterInit = pages[page]();
  header();
  clickstream.init(shop.tracker);
  if (typeof afterInit == "function") afterInit();
  document.body.dataset.ready = "1";
})();
