"""TeNPy models of the two phase chains, built with their conservation laws.

* :class:`BondAlternatingXXXModel` uses spin-1/2 sites that conserve total ``S^z`` (DMRG runs in
  the ``S^z = 0`` sector for even ``n``, where the singlet ground state lives, Lieb-Mattis), with
  ``S_i . S_j = S^z_i S^z_j + (S^+_i S^-_j + S^-_i S^+_j) / 2``.
* :class:`ClusterIsingModel` conserves the ``Z2`` parity ``prod_i X_i`` of the Hamiltonian. TeNPy
  conserves the parity of ``S^z``, so the model is written in the Hadamard-rotated basis, where it
  reads ``-J sum X_i Z_{i+1} X_{i+2} - h1 sum Z_i - h2 sum Z_i Z_{i+1}``; the tensors are rotated
  back to the qubit basis when converted (:data:`CLUSTER_BASIS_CHANGE`).

Both support finite chains (open boundaries, any ``n``) and infinite chains (``bc_MPS="infinite"``
with a two-site unit cell) for phase labels in the thermodynamic limit.
"""

from __future__ import annotations

import warnings

import numpy as np
from tenpy.models.lattice import Chain
from tenpy.models.model import CouplingMPOModel
from tenpy.networks.site import SpinHalfSite

#: ``|s>_qubit = sum_t U[s, t] |t>_tenpy`` for the cluster-Ising model's rotated basis.
CLUSTER_BASIS_CHANGE = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2.0)


class _ChainModel(CouplingMPOModel):
    """A spin-1/2 chain with open (finite) or infinite boundary conditions."""

    conserve: str = "Sz"

    def init_sites(self, model_params):
        return SpinHalfSite(conserve=self.conserve)

    def init_lattice(self, model_params):
        site = self.init_sites(model_params)
        length = model_params.get("L", 2)
        bc_mps = model_params.get("bc_MPS", "finite")
        bc = "open" if bc_mps == "finite" else "periodic"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # TeNPy's unit_cell_width notice
            return Chain(length, site, bc=bc, bc_MPS=bc_mps)


class BondAlternatingXXXModel(_ChainModel):
    """``J1 sum_{i even} S_i.S_{i+1} + J2 sum_{i odd} S_i.S_{i+1}`` (params ``L, J1, J2``)."""

    conserve = "Sz"

    def init_terms(self, model_params):
        j1 = model_params.get("J1", 1.0)
        j2 = model_params.get("J2", 1.0)
        n_bonds = self.lat.N_sites - (1 if self.lat.bc_MPS == "finite" else 0)
        for i in range(n_bonds):
            coupling = j1 if i % 2 == 0 else j2
            self.add_coupling_term(coupling, i, i + 1, "Sz", "Sz")
            self.add_coupling_term(0.5 * coupling, i, i + 1, "Sp", "Sm", plus_hc=True)


class ClusterIsingModel(_ChainModel):
    """Cluster-Ising chain in the Hadamard basis (params ``L, J, h1, h2``); see module doc."""

    conserve = "parity"

    def init_terms(self, model_params):
        j = model_params.get("J", 1.0)
        h1 = model_params.get("h1", 0.0)
        h2 = model_params.get("h2", 0.0)
        n = self.lat.N_sites
        finite = self.lat.bc_MPS == "finite"
        for i in range(n):
            self.add_onsite_term(-h1, i, "Sigmaz")
        for i in range(n - 1 if finite else n):
            self.add_coupling_term(-h2, i, i + 1, "Sigmaz", "Sigmaz")
        for i in range(n - 2 if finite else n):
            self.add_multi_coupling_term(
                -j, [i, i + 1, i + 2], ["Sigmax", "Sigmaz", "Sigmax"], ["Id", "Id"]
            )
